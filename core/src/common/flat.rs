//! A flat JSON object read in one pass over its bytes, without serde: what a JWT's header and
//! most payloads are (string, whole-number, boolean and null members). Anything else (an
//! escape, a nested value, a fraction, a negative or long number, a control character) is
//! not decided here: `None`, and the caller reads the text with serde_json, which then
//! accepts or refuses it. What is read here is read as serde_json reads it.

/// A member's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flat {
    /// A string without escapes: where its contents stand in the text.
    Text(u32, u32),
    Whole(u64),
    Bool(bool),
    Null,
}

/// Where a member's name stands in the text, and its value.
pub type Pair = ((u32, u32), Flat);

/// The string at a place `members` gave in `text`.
pub fn slice(text: &str, at: u32, len: u32) -> Option<&str> {
    let at = at as usize;
    text.get(at..at.checked_add(len as usize)?)
}

/// The members of `text` in order, or None when it is not a flat object this reads.
pub fn members(text: &str) -> Option<Vec<Pair>> {
    let mut out = Vec::with_capacity(8);
    each(text, |key, value| {
        out.push((key, value));
        Ok::<(), ()>(())
    })
    .ok()?;
    Some(out)
}

/// Each member of `text` in order, given to `member` as it is read: Err(None) when `text` is
/// not a flat object this reads (what `member` took of it is then to be dropped), Err(Some)
/// with what `member` answered when it refused one (the reading stops there).
pub fn each<E>(text: &str, mut member: impl FnMut((u32, u32), Flat) -> Result<(), E>) -> Result<(), Option<E>> {
    let mut r = Reader { b: text.as_bytes(), at: 0 };
    r.ws();
    r.eat(b'{').ok_or(None)?;
    r.ws();
    if r.peek() == Some(b'}') {
        r.at += 1;
    } else {
        loop {
            r.eat(b'"').ok_or(None)?;
            let key = r.string().ok_or(None)?;
            r.ws();
            r.eat(b':').ok_or(None)?;
            r.ws();
            let value = r.value().ok_or(None)?;
            member(key, value).map_err(Some)?;
            r.ws();
            match r.next() {
                Some(b',') => r.ws(),
                Some(b'}') => break,
                _ => return Err(None),
            }
        }
    }
    r.ws();
    if r.at == r.b.len() {
        Ok(())
    } else {
        Err(None)
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.at += 1;
        Some(c)
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// Whitespace skipped: one test where there is none (an issuer's JSON has none), the loop
    /// out of line.
    fn ws(&mut self) {
        if matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.skip_ws();
        }
    }

    #[inline(never)]
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// After the opening quote: the contents' place, the closing quote consumed.
    fn string(&mut self) -> Option<(u32, u32)> {
        let start = self.at;
        loop {
            match self.next()? {
                b'"' => break,
                b'\\' => return None,
                c if c < 0x20 => return None,
                _ => {}
            }
        }
        Some((u32::try_from(start).ok()?, u32::try_from(self.at - 1 - start).ok()?))
    }

    fn value(&mut self) -> Option<Flat> {
        match self.next()? {
            b'"' => self.string().map(|(at, len)| Flat::Text(at, len)),
            b't' => self.word(b"rue", Flat::Bool(true)),
            b'f' => self.word(b"alse", Flat::Bool(false)),
            b'n' => self.word(b"ull", Flat::Null),
            c @ b'0'..=b'9' => self.whole(c),
            _ => None,
        }
    }

    fn word(&mut self, rest: &[u8], v: Flat) -> Option<Flat> {
        let end = self.at.checked_add(rest.len())?;
        (self.b.get(self.at..end)? == rest).then(|| {
            self.at = end;
            v
        })
    }

    /// A whole number of at most 18 digits, without a leading zero (unless it is 0).
    fn whole(&mut self, first: u8) -> Option<Flat> {
        let mut n = u64::from(first - b'0');
        let mut digits = 1;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            if first == b'0' || digits == 18 {
                return None;
            }
            n = n * 10 + u64::from(c - b'0');
            digits += 1;
            self.at += 1;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(Flat::Whole(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_objects_are_read_and_everything_else_is_left_to_serde() {
        let m = members(r#" {"a":"x y", "n" : 0,"t":true,"f":false,"z":null,"big":999999999999999999} "#).unwrap();
        assert_eq!(m.len(), 6);
        assert_eq!(m[0], ((3, 1), Flat::Text(7, 3)));
        assert_eq!(m[1].1, Flat::Whole(0));
        assert_eq!(m[5].1, Flat::Whole(999_999_999_999_999_999));
        assert_eq!(members("{}"), Some(vec![]));
        for other in [
            r#"{"a":"\n"}"#, r#"{"a\"":1}"#, "{\"a\":\"\u{1}\"}", r#"{"a":{}}"#, r#"{"a":[]}"#, r#"{"a":-1}"#,
            r#"{"a":1.5}"#, r#"{"a":1e3}"#, r#"{"a":01}"#, r#"{"a":1000000000000000000}"#, r#"{"a":1,}"#,
            r#"{"a":1} x"#, r#"{"a":tru}"#, r#"{"a" 1}"#, r#"["a"]"#, "", "{", r#"{"a":1"#, r#"{,}"#,
        ] {
            assert_eq!(members(other), None, "{other}");
        }
    }
}
