//! The text codecs of a request: query strings and cookies split into pairs, percent-encoding
//! both ways, and a path or cookie header with one parameter taken out.

pub fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, "")))
}

pub fn cookie_pairs(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').map(str::trim).filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// Decodes %XX escapes and '+' (form encoding); None on a bad escape or non-UTF-8 result.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                // Two hex digits exactly: `from_str_radix` alone takes a sign ("%+A" is a line feed).
                let hex = s.get(i + 1..i + 3).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Form-encodes a value (RFC 3986 unreserved characters kept, everything else %XX).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request's `:path` without the query parameter `name`, for `hide_credentials`.
pub fn path_without_param(path_and_query: &str, name: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else { return path_and_query.to_string() };
    let kept: Vec<&str> =
        query.split('&').filter(|p| !p.is_empty() && p.split('=').next() != Some(name)).collect();
    if kept.is_empty() { path.to_string() } else { format!("{path}?{}", kept.join("&")) }
}

/// The Cookie header without the cookie `name`; None when nothing else is left.
pub fn cookie_without(header: &str, name: &str) -> Option<String> {
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(name))
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// What one pass over a header value found: a comma, an ASCII control character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    pub comma: bool,
    pub control: bool,
}

/// A byte of ones, of high bits and of the other seven bits, in each of a word's eight bytes.
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// Whether `bytes` hold a comma and whether an ASCII control character (0x00–0x1F, 0x7F), eight
/// bytes at a time, and whether every byte is ASCII: a token's header value is scanned on every
/// request, and one pass for all three costs less than the passes it replaces.
fn words(bytes: &[u8]) -> (Scan, bool) {
    // Per word, `(y - ONES) & !y` has a byte's high bit set where y has a zero byte (and
    // `(x - 0x20 each) & !x` where x has a byte below 0x20); the high bits are kept for after
    // the loop: masking the OR of the words is masking each word. A set bit is exact for
    // "some byte is", which is all that is asked.
    let (mut comma, mut control, mut all) = (0u64, 0u64, 0u64);
    let mut take = |x: u64| {
        let c = x ^ (ONES * b',' as u64);
        let d = x ^ (ONES * 0x7f);
        comma |= c.wrapping_sub(ONES) & !c;
        control |= (x.wrapping_sub(ONES * 0x20) & !x) | (d.wrapping_sub(ONES) & !d);
        all |= x;
    };
    let mut chunks = bytes.chunks_exact(8);
    for w in &mut chunks {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(w);
        take(u64::from_le_bytes(eight));
    }
    // The last bytes as a word of their own, filled with a letter (no comma, no control,
    // ASCII): the same test, not a loop per question.
    if !chunks.remainder().is_empty() {
        take(word(chunks.remainder(), b'a'));
    }
    (Scan { comma: comma & HIGH != 0, control: control & HIGH != 0 }, all & HIGH == 0)
}

/// The last bytes of a text (fewer than eight) as a little-endian word, the places after
/// them holding `fill`.
fn word(bytes: &[u8], fill: u8) -> u64 {
    let mut eight = [fill; 8];
    for (to, from) in eight.iter_mut().zip(bytes) {
        *to = *from;
    }
    u64::from_le_bytes(eight)
}

/// What one pass over `bytes` found, and `bytes` as text (None if they are not UTF-8): an
/// ASCII value, as every token is, needs no second pass to be read as text.
pub fn scan(bytes: &[u8]) -> (Scan, Option<&str>) {
    let (scan, ascii) = words(bytes);
    let text = if ascii {
        // SAFETY: `words` saw no byte with its high bit set: every byte is ASCII, and ASCII
        // is UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    };
    (scan, text)
}

/// `s` cut at its two dots (a compact JWS: header, payload, signature); None unless it has
/// exactly two. Eight bytes at a time: a search per dot went over a first-seen token byte by
/// byte.
pub fn three_parts(s: &str) -> Option<(&str, &str, &str)> {
    let mut dots = [0usize; 2];
    let mut n = 0;
    let mut note = |t: u64, base: usize| -> Option<()> {
        // The high bit of each byte of `t` that is zero, and of no other (exact, unlike the
        // test for any zero byte).
        let mut zero = !(((t & LOW7) + LOW7) | t | LOW7);
        while zero != 0 {
            *dots.get_mut(n)? = base + (zero.trailing_zeros() / 8) as usize;
            n += 1;
            zero &= zero - 1;
        }
        Some(())
    };
    let dot = ONES * b'.' as u64;
    let mut chunks = s.as_bytes().chunks_exact(8);
    let mut base = 0;
    for w in &mut chunks {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(w);
        note(u64::from_le_bytes(eight) ^ dot, base)?;
        base += 8;
    }
    // The last bytes as a word of their own, filled with a letter (not a dot).
    if !chunks.remainder().is_empty() {
        note(word(chunks.remainder(), b'a') ^ dot, base)?;
    }
    let [first, second] = dots;
    if n != 2 {
        return None;
    }
    // Cut at ASCII dots: every piece is at a character boundary.
    Some((s.get(..first)?, s.get(first + 1..second)?, s.get(second + 1..)?))
}

/// `str::trim`, the ASCII whitespace at the ends taken off byte by byte: a header value (every
/// token's) has only that, and `str::trim` decodes each end character by character.
pub fn trim(s: &str) -> &str {
    let (start, end) = (ascii_start(s), ascii_end(s));
    match s.get(start.min(end)..end) {
        Some(t) if t.as_bytes().first().is_none_or(u8::is_ascii) && t.as_bytes().last().is_none_or(u8::is_ascii) => t,
        _ => s.trim(), // perhaps Unicode whitespace at an end
    }
}

/// `str::trim_start`, as `trim`.
pub fn trim_start(s: &str) -> &str {
    match s.get(ascii_start(s)..) {
        Some(t) if t.as_bytes().first().is_none_or(u8::is_ascii) => t,
        _ => s.trim_start(),
    }
}

/// What `char::is_whitespace` holds for in ASCII: U+0009 to U+000D and the space.
fn ascii_space(b: &u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ')
}

fn ascii_start(s: &str) -> usize {
    s.bytes().position(|b| !ascii_space(&b)).unwrap_or(s.len())
}

fn ascii_end(s: &str) -> usize {
    s.bytes().rposition(|b| !ascii_space(&b)).map_or(0, |at| at + 1)
}

/// Whether `bytes` are ASCII with no comma and no control character, in one pass: a header
/// value holding one token and nothing that needs a closer look.
pub fn plain(bytes: &[u8]) -> bool {
    let (scan, ascii) = words(bytes);
    ascii && !scan.comma && !scan.control
}

/// Whether `bytes` hold an ASCII control character (0x00–0x1F, 0x7F), as
/// `bytes.iter().any(u8::is_ascii_control)` says: `scan`'s answer.
pub fn has_control(bytes: &[u8]) -> bool {
    words(bytes).0.control
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_as_str_does() {
        for s in [
            "", " ", "\t\n\x0b\x0c\r ", "abc", "  a b  ", "\x0babc\x0b", "\u{a0}abc", "abc\u{3000}", " \u{2003} x \u{85}",
            "é", " é ", "\u{a0}", " \u{a0} ", "x\u{1680}", "\x1fx\x7f", "Bearer  abc",
        ] {
            assert_eq!(trim(s), s.trim(), "{s:?}");
            assert_eq!(trim_start(s), s.trim_start(), "{s:?}");
        }
    }

    #[test]
    fn three_parts_cuts_as_split_does() {
        let check = |s: &str| {
            let parts: Vec<&str> = s.split('.').collect();
            let want = (parts.len() == 3).then(|| (parts[0], parts[1], parts[2]));
            assert_eq!(three_parts(s), want, "{s:?}");
        };
        // Dots at every place of a word and of the remainder, one to four of them.
        for len in 0..=24usize {
            for a in 0..len {
                for b in a..len {
                    for c in [None, Some(0), Some(len - 1), Some((a + b) / 2)] {
                        let mut v = vec![b'x'; len];
                        v[a] = b'.';
                        v[b] = b'.';
                        if let Some(c) = c {
                            v[c] = b'.';
                        }
                        check(std::str::from_utf8(&v).unwrap());
                    }
                }
            }
        }
        for s in ["", ".", "..", "...", "a.b.c", "é.\u{2e00}.ü", "\u{1F600}.a.\u{1F600}", "-./.-", "a.b.c.d"] {
            check(s);
        }
        // Bytes next to a dot's value ('-', '/', 0xAE) are not dots.
        check("--//--//.--//--//.--//--//");
    }

    #[test]
    fn the_word_scans_give_the_byte_by_byte_answers() {
        let check = |b: &[u8]| {
            let control = b.iter().any(u8::is_ascii_control);
            assert_eq!(has_control(b), control, "{b:?}");
            assert_eq!(scan(b), (Scan { comma: b.contains(&b','), control }, std::str::from_utf8(b).ok()), "{b:?}");
        };
        // Every byte value at every place of a word and of the remainder, among printable
        // bytes, commas and non-ASCII ones.
        for len in [3usize, 8, 11, 16] {
            for at in 0..len {
                for v in 0..=255u8 {
                    for fill in [b'a', 0xff, 0x80, b'~', b','] {
                        let mut b = vec![fill; len];
                        b[at] = v;
                        check(&b);
                    }
                }
            }
        }
        // Text that is UTF-8 but not ASCII, and cut through a character.
        for t in ["Bearer é.a,b", "ab\u{1F600}cdefghij", "\u{7FF}\u{800}\u{FFFF}\u{10000}"] {
            for cut in 0..=t.len() {
                check(&t.as_bytes()[..cut]);
                check(&t.as_bytes()[cut..]);
            }
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            check(&x.to_le_bytes());
        }
    }
}
