//! The parts of an http(s) URL that a `dispatch_http_call` needs: `:authority` and `:path`.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    pub scheme: String,
    pub authority: String,
    /// Path and query, at least "/".
    pub path: String,
}

impl HttpTarget {
    pub fn parse(url: &str) -> Option<HttpTarget> {
        let (scheme, rest) = url.split_once("://")?;
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (rest.get(..i)?, rest.get(i..)?),
            None => (rest, ""),
        };
        let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        if authority.is_empty() || authority.contains(char::is_whitespace) || url.contains(char::is_control) {
            return None;
        }
        let path = if path.is_empty() {
            "/".to_string()
        } else if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        let path = path.split('#').next().unwrap_or("/").to_string();
        Some(HttpTarget { scheme: scheme.to_string(), authority: authority.to_string(), path })
    }

    pub fn to_url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.path)
    }

    /// The same origin with another path (e.g. a well-known document).
    pub fn with_path(&self, path: &str) -> HttpTarget {
        HttpTarget { scheme: self.scheme.clone(), authority: self.authority.clone(), path: path.to_string() }
    }
}

/// One HTTP call to an IdP, as the core builds it: the Envoy cluster, the request headers
/// (pseudo-headers included), the body and the timeout. The adapter only dispatches it.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout_ms: u64,
}

impl std::fmt::Debug for HttpCall {
    // Headers and body may carry credentials: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpCall({}, {} headers)", self.cluster, self.headers.len())
    }
}

impl HttpCall {
    /// A GET of `target` that accepts JSON.
    pub fn get_json(cluster: &str, target: &HttpTarget, timeout_ms: u64) -> HttpCall {
        HttpCall {
            cluster: cluster.to_string(),
            headers: vec![
                (":method".into(), "GET".into()),
                (":path".into(), target.path.clone()),
                (":authority".into(), target.authority.clone()),
                ("accept".into(), "application/json".into()),
            ],
            body: None,
            timeout_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let t = HttpTarget::parse("https://idp.example:8443/realms/x/jwks?a=1#f").unwrap();
        assert_eq!((t.scheme.as_str(), t.authority.as_str(), t.path.as_str()), ("https", "idp.example:8443", "/realms/x/jwks?a=1"));
        assert_eq!(HttpTarget::parse("http://h").unwrap().path, "/");
        assert_eq!(HttpTarget::parse("http://u:p@h/x").unwrap().authority, "h");
        for bad in ["ftp://h/x", "h/x", "http:///x", "http://a b/", "http://h/\r\n"] {
            assert_eq!(HttpTarget::parse(bad), None, "{bad}");
        }
    }
}
