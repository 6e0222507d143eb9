//! The facts about one request that the decision needs, as the adapter read them from the host.

#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Header pairs as the host gives them (names lower-case, pseudo-headers included);
    /// values are bytes, since a header may carry non-UTF-8 octets.
    pub headers: Headers,
    /// `xds.route_name`, when the host has one.
    pub route_name: Option<String>,
    /// The policy named by the route's metadata under the filter's namespace.
    pub metadata_policy: Option<String>,
}

/// A request's header pairs, kept as the host gave them: its buffer, and where each name and
/// value lies in it. Reading the host's map costs no copy per header (a name and a value were
/// an allocation and a copy each, about 400 wasm operators per header on every request).
#[derive(Clone, Default)]
pub struct Headers {
    bytes: Vec<u8>,
    places: Vec<Place>,
}

/// Where one pair lies in `Headers::bytes`: start and end of its name, then of its value.
#[derive(Clone, Copy)]
struct Place {
    name: (u32, u32),
    value: (u32, u32),
}

impl Headers {
    /// A header map in the proxy-wasm wire format (count, then (name, value) sizes, then
    /// NUL-terminated names and values), kept as it is. None if the bytes do not hold such a
    /// map. A name that is not UTF-8 matches no name and is left out of `iter`.
    pub fn from_wire(bytes: Vec<u8>) -> Option<Headers> {
        if bytes.is_empty() {
            return Some(Headers::default());
        }
        let (count, rest) = bytes.split_first_chunk::<4>()?;
        let count = u32::from_le_bytes(*count) as usize;
        let (sizes, _) = rest.as_chunks::<8>();
        let sizes = sizes.get(..count)?;
        // In u64, where no sum of u32 sizes overflows: one bound check per pair (its value
        // ends after its name), and every offset then fits in u32 as the bytes' length does.
        let len = u64::try_from(bytes.len()).ok().filter(|l| *l <= u64::from(u32::MAX))?;
        let mut data = 4 + 8 * count as u64;
        let mut places = Vec::with_capacity(count);
        for &[k0, k1, k2, k3, v0, v1, v2, v3] in sizes {
            let (ks, vs) = (u64::from(u32::from_le_bytes([k0, k1, k2, k3])), u64::from(u32::from_le_bytes([v0, v1, v2, v3])));
            let (name_end, value_start) = (data + ks, data + ks + 1);
            let value_end = value_start + vs;
            if value_end > len {
                return None;
            }
            places.push(Place { name: (data as u32, name_end as u32), value: (value_start as u32, value_end as u32) });
            data = value_end + 1;
        }
        Some(Headers { bytes, places })
    }

    /// Adds a pair at the end.
    pub fn push(&mut self, (name, value): (String, Vec<u8>)) {
        let mut put = |b: &[u8]| {
            let start = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
            self.bytes.extend_from_slice(b);
            (start, u32::try_from(self.bytes.len()).unwrap_or(u32::MAX))
        };
        let place = Place { name: put(name.as_bytes()), value: put(&value) };
        self.places.push(place);
    }

    fn at(&self, (start, end): (u32, u32)) -> &[u8] {
        self.bytes.get(start as usize..end as usize).unwrap_or_default()
    }

    /// Whether the pair at `p` is named `name`: most names differ in length, told from the
    /// place alone, before any byte is compared.
    fn named(&self, p: &Place, name: &[u8]) -> bool {
        (p.name.1.wrapping_sub(p.name.0)) as usize == name.len() && self.at(p.name) == name
    }

    /// Every pair in order, names as text.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.raw().filter_map(|(k, v)| Some((std::str::from_utf8(k).ok()?, v)))
    }

    /// Every pair in order, names as bytes (a name read as text costs a UTF-8 check).
    pub fn raw(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.places.iter().map(|p| (self.at(p.name), self.at(p.value)))
    }

    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<&[u8]> {
        self.places.iter().find(|p| self.named(p, name.as_bytes())).map(|p| self.at(p.value))
    }

    /// The value of `name` when the request holds exactly one such header.
    pub fn only(&self, name: &str) -> Option<&[u8]> {
        let mut found = None;
        for p in &self.places {
            if self.named(p, name.as_bytes()) {
                if found.is_some() {
                    return None;
                }
                found = Some(p.value);
            }
        }
        found.map(|v| self.at(v))
    }

    /// Every value of `name`, in order.
    pub fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.places.iter().filter(move |p| self.named(p, name.as_bytes())).map(|p| self.at(p.value))
    }

    pub fn len(&self) -> usize {
        self.places.len()
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }
}

impl FromIterator<(String, Vec<u8>)> for Headers {
    fn from_iter<I: IntoIterator<Item = (String, Vec<u8>)>>(pairs: I) -> Headers {
        let mut headers = Headers::default();
        for pair in pairs {
            headers.push(pair);
        }
        headers
    }
}

impl From<Vec<(String, Vec<u8>)>> for Headers {
    fn from(pairs: Vec<(String, Vec<u8>)>) -> Headers {
        pairs.into_iter().collect()
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: values carry credentials.
        f.debug_list().entries(self.iter().map(|(k, _)| k)).finish()
    }
}

impl Request {
    /// The first value of `name` (lower-case) if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.first(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every raw value of `name`.
    pub fn header_values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.headers.values(name)
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
        let back = Headers::from_wire(bytes.clone()).unwrap();
        assert_eq!(back.iter().collect::<Vec<_>>(), vec![("a", &b"1"[..]), (":path", &b"/x"[..])]);
        for cut in 0..bytes.len() {
            if let Some(h) = Headers::from_wire(bytes[..cut].to_vec()) {
                assert!(h.iter().count() <= 2);
            }
        }
        assert!(Headers::from_wire(vec![255, 255, 255, 255]).is_none());
        assert!(Headers::from_wire(vec![1, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0]).is_none());
        // A name that is not UTF-8 matches nothing and is not listed; its value stays bytes.
        let mut wire = vec![2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0];
        wire.extend_from_slice(b"\xff\0v\0a\0\xfe\xfd\0");
        let h = Headers::from_wire(wire).unwrap();
        assert_eq!(h.iter().collect::<Vec<_>>(), vec![("a", &[0xfe, 0xfd][..])]);
        assert_eq!(h.values("a").count(), 1);
        assert_eq!(h.len(), 2);
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
