//! The facts about one request that the decision needs, as the adapter read them from the host.

#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Header pairs as the host gives them (names lower-case, pseudo-headers included);
    /// values are bytes, since a header may carry non-UTF-8 octets.
    pub headers: Vec<(String, Vec<u8>)>,
    /// `xds.route_name`, when the host has one.
    pub route_name: Option<String>,
    /// The policy named by the route's metadata under the filter's namespace.
    pub metadata_policy: Option<String>,
}

impl Request {
    /// The first value of `name` (lower-case) if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Every raw value of `name`.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_slice())
    }

    pub fn method(&self) -> &str {
        self.header(":method").unwrap_or("")
    }

    /// `:path` with its query string.
    pub fn path_and_query(&self) -> &str {
        self.header(":path").unwrap_or("/")
    }

    /// `:path` without the query string.
    pub fn path(&self) -> &str {
        let p = self.path_and_query();
        p.split_once('?').map_or(p, |(path, _)| path)
    }

    /// `:authority` (or `host`) without a port, lower-cased.
    pub fn host(&self) -> String {
        let h = self.header(":authority").or_else(|| self.header("host")).unwrap_or("");
        let h = if h.starts_with('[') {
            h.find(']').and_then(|i| h.get(..=i)).unwrap_or(h)
        } else {
            match h.rsplit_once(':') {
                Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
                _ => h,
            }
        };
        h.to_ascii_lowercase()
    }
}

/// Reads a header map in the proxy-wasm wire format (count, then (name, value) sizes, then
/// NUL-terminated names and values). None if the bytes do not hold such a map. Names that
/// are not UTF-8 are dropped; values stay bytes.
pub fn deserialize_pairs(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let word = |at: usize| -> Option<usize> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(u32::from_le_bytes(b) as usize)
    };
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let count = word(0)?;
    let mut data = count.checked_mul(8)?.checked_add(4)?;
    if data > bytes.len() {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let (ks, vs) = (word(4 + i * 8)?, word(8 + i * 8)?);
        let key = bytes.get(data..data.checked_add(ks)?)?;
        data = data.checked_add(ks)?.checked_add(1)?;
        let value = bytes.get(data..data.checked_add(vs)?)?;
        data = data.checked_add(vs)?.checked_add(1)?;
        if let Ok(k) = std::str::from_utf8(key) {
            out.push((k.to_string(), value.to_vec()));
        }
    }
    Some(out)
}

/// Writes header pairs in the proxy-wasm wire format.
pub fn serialize_pairs(pairs: &[(String, String)]) -> Vec<u8> {
    let size = 4 + pairs.iter().map(|(k, v)| 10 + k.len() + v.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn wire_format_round_trips_and_never_panics() {
        let pairs = vec![("a".to_string(), "1".to_string()), (":path".to_string(), "/x".to_string())];
        let bytes = serialize_pairs(&pairs);
        let back = deserialize_pairs(&bytes).unwrap();
        assert_eq!(back, vec![("a".to_string(), b"1".to_vec()), (":path".to_string(), b"/x".to_vec())]);
        for cut in 0..bytes.len() {
            let _ = deserialize_pairs(&bytes[..cut]);
        }
        assert_eq!(deserialize_pairs(&[255, 255, 255, 255]), None);
        assert_eq!(deserialize_pairs(&[1, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0]), None);
    }

    use super::*;

    fn req(pairs: &[(&str, &[u8])]) -> Request {
        Request { headers: pairs.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect(), ..Default::default() }
    }

    #[test]
    fn reads_pseudo_headers() {
        let r = req(&[(":method", b"GET"), (":path", b"/a/b?x=1"), (":authority", b"API.example.com:8080")]);
        assert_eq!(r.method(), "GET");
        assert_eq!(r.path(), "/a/b");
        assert_eq!(r.path_and_query(), "/a/b?x=1");
        assert_eq!(r.host(), "api.example.com");
        assert_eq!(req(&[(":authority", b"[::1]:80")]).host(), "[::1]");
        assert_eq!(req(&[]).path(), "/");
    }

    #[test]
    fn non_utf8_values_are_not_read_as_text() {
        let r = req(&[("x", &[0xff, 0xfe])]);
        assert_eq!(r.header("x"), None);
        assert_eq!(r.header_values("x").count(), 1);
    }
}
