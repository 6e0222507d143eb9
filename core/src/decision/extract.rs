//! Where the token is (RFC 6750 §2): the Authorization header with the Bearer scheme by
//! default; optionally another header, a query parameter or a cookie. Finding more than one
//! token is an error, as RFC 6750 allows one method per request.

use crate::common::codec::{self, cookie_pairs, has_control, percent_decode, query_pairs};
use crate::{Denial, Request};
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// A header (lower-case name) whose value starts with `prefix` (case-insensitive), kept
    /// without its trailing whitespace (the separator a value must hold after it).
    Header { name: String, prefix: Option<String> },
    Query(String),
    Cookie(String),
}

impl TokenSource {
    pub fn bearer() -> TokenSource {
        TokenSource::Header { name: "authorization".into(), prefix: Some("Bearer".into()) }
    }

    /// `Authorization: DPoP <token>` (RFC 9449 §7.1).
    pub fn dpop() -> TokenSource {
        TokenSource::Header { name: "authorization".into(), prefix: Some("DPoP".into()) }
    }
}

/// A token and the source it came from: borrowed from the request, unless it had to be
/// decoded (a query parameter's percent-escapes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'a> {
    pub token: Cow<'a, str>,
    pub source: &'a TokenSource,
}

/// Finds the request's token: Ok(None) when there is none.
pub fn extract<'a>(sources: &'a [TokenSource], req: &'a Request) -> Result<Option<Found<'a>>, Denial> {
    let mut found: Option<Found<'a>> = None;
    for source in sources {
        candidates(source, req, &mut |token, clean| {
            if found.is_some() {
                return Err(Denial::MultipleTokens);
            }
            // No token has control characters (CR, LF, NUL, …): one that has them is refused
            // before any use (it could split a header of an IdP call it is copied into).
            if !clean && has_control(token.as_bytes()) {
                return Err(Denial::Malformed);
            }
            found = Some(Found { token, source });
            Ok(())
        })?;
    }
    Ok(found)
}

/// Hands `out` each token `source` holds, with whether it is known to hold no control
/// character (a header value is scanned for them with its commas, in one pass).
fn candidates<'a>(source: &TokenSource, req: &'a Request, out: &mut dyn FnMut(Cow<'a, str>, bool) -> Result<(), Denial>) -> Result<(), Denial> {
    match source {
        TokenSource::Header { name, prefix } => {
            for raw in req.header_values(name) {
                let (scan, value) = codec::scan(raw);
                let Some(value) = value else { return Err(Denial::Malformed) };
                let value = codec::trim(value);
                // Envoy joins repeated headers with a comma: two Authorization headers arrive as
                // "Bearer a,Bearer b". No token has a comma (RFC 6750's b64token): two of them.
                if scan.comma {
                    return Err(Denial::MultipleTokens);
                }
                let token = match prefix {
                    None => Some(value),
                    Some(p) => strip_prefix_ci(value.as_bytes(), p.as_bytes())
                        .and_then(|rest| value.get(value.len() - rest.len()..))
                        .map(codec::trim_start),
                };
                if let Some(t) = token.filter(|t| !t.is_empty()) {
                    // The token is part of the value: clean if the value is (a control
                    // character trimmed off the value's ends is checked again on the token).
                    out(Cow::Borrowed(t), !scan.control)?;
                }
            }
        }
        TokenSource::Query(name) => {
            if let Some((_, query)) = req.path_and_query().split_once('?') {
                for (k, v) in query_pairs(query) {
                    if k == name.as_str() && !v.is_empty() {
                        out(Cow::Owned(percent_decode(v).ok_or(Denial::Malformed)?), false)?;
                    }
                }
            }
        }
        TokenSource::Cookie(name) => {
            for raw in req.header_values("cookie") {
                // Not skipped: a cookie header the filter cannot read may carry a second token
                // that a lenient upstream reads (RFC 6265 cookies are ASCII).
                let Ok(value) = std::str::from_utf8(raw) else { return Err(Denial::Malformed) };
                for (k, v) in cookie_pairs(value) {
                    if k == name.as_str() && !v.is_empty() {
                        out(Cow::Borrowed(v), false)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Where the token lies in one raw value of a header source, found without reading the value
/// as text: the value's ASCII whitespace trimmed, then the scheme `prefix` and the ASCII
/// whitespace after it taken off. For a value `candidates` reads without error this is the
/// token it gives, unless the value's ends or the scheme's separator hold other whitespace
/// (then these bytes are no token `candidates` ever gives: such a token neither starts nor
/// ends with whitespace).
pub fn header_token<'a>(value: &'a [u8], prefix: Option<&str>) -> Option<&'a [u8]> {
    let value = value.trim_ascii();
    let token = match prefix {
        None => value,
        Some(p) => strip_prefix_ci(value, p.as_bytes())?.trim_ascii_start(),
    };
    (!token.is_empty()).then_some(token)
}

/// `value` after the scheme `prefix` (any ASCII case); None if the scheme differs.
fn strip_prefix_ci<'a>(value: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let (head, rest) = value.split_at_checked(prefix.len())?;
    if !crate::common::bytes::same_ignoring_case(head, prefix) {
        return None;
    }
    // With a scheme prefix, a separator must follow ("Bearer abc", not "Bearerabc").
    if !prefix.is_empty() && !rest.is_empty() && !rest.starts_with(b" ") && !rest.starts_with(b"\t") {
        return None;
    }
    Some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::codec::{cookie_without, path_without_param};

    fn req(pairs: &[(&str, &str)]) -> Request {
        Request {
            headers: pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect(),
            ..Default::default()
        }
    }

    fn bearer(r: &Request) -> Result<Option<String>, Denial> {
        extract(&[TokenSource::bearer()], r).map(|f| f.map(|f| f.token.into_owned()))
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for h in ["Bearer abc", "bearer abc", "BEARER   abc", "Bearer\tabc"] {
            assert_eq!(bearer(&req(&[("authorization", h)])), Ok(Some("abc".into())), "{h}");
        }
    }

    #[test]
    fn other_schemes_and_empties_are_no_token() {
        for h in ["Basic abc", "Bearerabc", "Bearer", "Bearer   ", "", "abc"] {
            assert_eq!(bearer(&req(&[("authorization", h)])), Ok(None), "{h}");
        }
        assert_eq!(bearer(&req(&[])), Ok(None));
    }

    #[test]
    fn two_authorization_headers_joined_by_envoy_are_two_tokens() {
        for h in ["Bearer a,Bearer b", "Bearer a, Bearer b", "Basic Zm9vOmJhcg==, Bearer b", "Bearer a,"] {
            assert_eq!(bearer(&req(&[("authorization", h)])), Err(Denial::MultipleTokens), "{h}");
        }
    }

    #[test]
    fn control_characters_in_any_token_are_refused() {
        let query = |q: &str| extract(&[TokenSource::Query("access_token".into())], &req(&[(":path", q)])).map(|f| f.map(|f| f.token.into_owned()));
        for q in ["/x?access_token=a%0Ab", "/x?access_token=a%0D%0AX-Evil:%201", "/x?access_token=a%00", "/x?access_token=%7F",
            "/x?access_token=a%+Ab", "/x?access_token=a%-1b"] {
            assert_eq!(query(q), Err(Denial::Malformed), "{q}");
        }
        assert_eq!(query("/x?access_token=a%2Bb"), Ok(Some("a+b".into())));
        assert_eq!(bearer(&req(&[("authorization", "Bearer a\u{1}b")])), Err(Denial::Malformed));
        let header = [TokenSource::Header { name: "x-token".into(), prefix: None }];
        assert_eq!(extract(&header, &req(&[("x-token", "a\tb")])).map(|f| f.map(|f| f.token.into_owned())), Err(Denial::Malformed));
    }

    #[test]
    fn a_cookie_header_that_is_not_utf8_is_refused_where_cookies_carry_tokens() {
        let cookie = [TokenSource::Cookie("tok".into())];
        let r = Request { headers: vec![("cookie".into(), b"tok=a; tok2=\xff".to_vec())].into(), ..Default::default() };
        assert_eq!(extract(&cookie, &r), Err(Denial::Malformed));
    }

    #[test]
    fn a_token_located_as_bytes_is_the_token_read_as_text() {
        // What the quick path relies on: a token that could have been accepted from this header
        // (UTF-8, no comma, no control character, no whitespace at its ends), located in a
        // value as bytes, is the token `extract` reads from that value, with no error.
        let accepted = |t: &[u8]| {
            std::str::from_utf8(t).is_ok_and(|t| !t.contains(',') && !t.bytes().any(|b| b.is_ascii_control()) && t.trim() == t)
        };
        let spaces = ["", " ", "\t", "  \t ", "\r\n", "\x0b", "\x0c", "\u{a0}", "\u{2003}", "\0"];
        let schemes = ["Bearer", "bearer", "BEARER", "Basic", "Bearerx", "", "Bear"];
        let tokens = ["abc", "a.b-c_d", "é", "a,b", "a\x01b", "a b", "\u{a0}x", "x\u{a0}", "x\x7f", ""];
        let sources = [TokenSource::bearer(), TokenSource::Header { name: "authorization".into(), prefix: None }];
        let mut located = 0;
        for source in &sources {
            let TokenSource::Header { prefix, .. } = source else { continue };
            for a in spaces {
                for scheme in schemes {
                    for sep in spaces {
                        for t in tokens {
                            for b in spaces {
                                let value = format!("{a}{scheme}{sep}{t}{b}");
                                let r = req(&[("authorization", &value)]);
                                let Some(fast) = header_token(value.as_bytes(), prefix.as_deref()) else { continue };
                                // `authenticate::present` takes the located token as it is from a
                                // plain value (ASCII, no comma, no control character): one such
                                // token is always one `extract` accepts, checked below.
                                assert!(!crate::common::codec::plain(value.as_bytes()) || accepted(fast), "{value:?}");
                                if !accepted(fast) {
                                    continue;
                                }
                                located += 1;
                                let slow = extract(std::slice::from_ref(source), &r).map(|f| f.map(|f| f.token.into_owned()));
                                assert_eq!(slow, Ok(Some(String::from_utf8(fast.to_vec()).unwrap())), "{value:?} {prefix:?}");
                            }
                        }
                    }
                }
            }
        }
        assert!(located > 1000, "{located}");
        assert_eq!(header_token(b"  Bearer \t abc \r\n", Some("Bearer")), Some(&b"abc"[..]));
        assert_eq!(header_token(b"Bearerabc", Some("Bearer")), None);
        assert_eq!(header_token(b"Bearer  ", Some("Bearer")), None);
    }

    #[test]
    fn two_tokens_are_refused() {
        let r = req(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]);
        assert_eq!(bearer(&r), Err(Denial::MultipleTokens));
        let r = req(&[("authorization", "Bearer a"), (":path", "/x?access_token=b")]);
        let both = [TokenSource::bearer(), TokenSource::Query("access_token".into())];
        assert_eq!(extract(&both, &r), Err(Denial::MultipleTokens));
    }

    #[test]
    fn query_cookie_and_raw_header() {
        let r = req(&[(":path", "/x?a=1&access_token=t%2Bk+z&b=2"), ("cookie", "s=1; at=ck; z=2"), ("x-token", "raw")]);
        let q = [TokenSource::Query("access_token".into())];
        assert_eq!(extract(&q, &r).map(|f| f.map(|f| f.token.into_owned())), Ok(Some("t+k z".into())));
        let c = [TokenSource::Cookie("at".into())];
        assert_eq!(extract(&c, &r).map(|f| f.map(|f| f.token.into_owned())), Ok(Some("ck".into())));
        let h = [TokenSource::Header { name: "x-token".into(), prefix: None }];
        assert_eq!(extract(&h, &r).map(|f| f.map(|f| f.token.into_owned())), Ok(Some("raw".into())));
    }

    #[test]
    fn non_utf8_header_and_bad_escapes_are_malformed() {
        let mut r = req(&[]);
        r.headers.push(("authorization".into(), vec![b'B', 0xff]));
        assert_eq!(bearer(&r), Err(Denial::Malformed));
        let r = req(&[(":path", "/x?access_token=%zz")]);
        assert_eq!(extract(&[TokenSource::Query("access_token".into())], &r), Err(Denial::Malformed));
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%C3%A9"), Some("é".into()));
    }

    #[test]
    fn hiding() {
        assert_eq!(path_without_param("/x?a=1&access_token=t&b=2", "access_token"), "/x?a=1&b=2");
        assert_eq!(path_without_param("/x?access_token=t", "access_token"), "/x");
        assert_eq!(path_without_param("/x", "access_token"), "/x");
        assert_eq!(cookie_without("s=1; at=ck; z=2", "at").as_deref(), Some("s=1; z=2"));
        assert_eq!(cookie_without("at=ck", "at"), None);
    }
}
